import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecutionStatus, OperationStatus } from "@aws/durable-execution-sdk-js-testing";
import { handler, type AlbumResult } from "../src/fan-out.ts";
import { runnerFor, topLevel, useRunners } from "./runners.ts";

useRunners({ skipTime: false });

test("every photo is resized, then the album is indexed and announced", async () => {
  const runner = runnerFor<AlbumResult>("PublishAlbum", handler);

  const execution = await runner.run({ payload: { albumId: "a-1", photos: ["beach.jpg", "dune.jpg", "pier.jpg", "sunset.jpg"] } });

  assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
  assert.deepEqual(execution.getResult(), {
    albumId: "a-1",
    thumbnails: ["thumbnails/beach.jpg", "thumbnails/dune.jpg", "thumbnails/pier.jpg", "thumbnails/sunset.jpg"],
    indexed: "a-1: 4 photos",
    notified: "followers of a-1",
  });
  assert.deepEqual(topLevel(execution), ["resize-photos", "publish"]);

  const photos = runner.getOperation("resize-photos").getChildOperations() ?? [];
  assert.deepEqual(photos.map((photo) => photo.getName()), ["beach.jpg", "dune.jpg", "pier.jpg", "sunset.jpg"]);
  for (const photo of photos) {
    assert.equal(photo.getStatus(), OperationStatus.SUCCEEDED);
    const [resize] = photo.getChildOperations() ?? [];
    assert.equal(resize.getName(), "resize");
    assert.equal(resize.getStepDetails()?.result, `thumbnails/${photo.getName()}`);
  }

  const branches = runner.getOperation("publish").getChildOperations() ?? [];
  assert.deepEqual(branches.map((branch) => [branch.getName(), branch.getStatus()]), [
    ["index", OperationStatus.SUCCEEDED],
    ["notify", OperationStatus.SUCCEEDED],
  ]);
});
