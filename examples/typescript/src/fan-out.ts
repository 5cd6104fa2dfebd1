/**
 * Map and parallel: publish a photo album. Every photo is resized in its own step,
 * at most three at a time (`map`); then the search index and the followers are
 * updated side by side (`parallel`). Each item and branch runs in a child context of
 * its own, so a retry or a replay redoes only what had not finished.
 */
import { withDurableExecution } from "@aws/durable-execution-sdk-js";

export interface Album {
  albumId: string;
  photos: string[];
}

export interface AlbumResult {
  albumId: string;
  thumbnails: string[];
  indexed: string;
  notified: string;
}

export const handler = withDurableExecution(async (album: Album, context): Promise<AlbumResult> => {
  const resized = await context.map(
    "resize-photos",
    album.photos,
    async (item, photo) => item.step("resize", async () => `thumbnails/${photo}`),
    { maxConcurrency: 3, itemNamer: (photo) => photo },
  );

  const published = await context.parallel<string>("publish", [
    { name: "index", func: async (branch) => branch.step("index", async () => `${album.albumId}: ${album.photos.length} photos`) },
    { name: "notify", func: async (branch) => branch.step("notify", async () => `followers of ${album.albumId}`) },
  ]);
  const [indexed, notified] = published.getResults();

  return { albumId: album.albumId, thumbnails: resized.getResults(), indexed, notified };
});
