"""The pipeline's stage bodies, grouped: each function runs inside one durable step."""
