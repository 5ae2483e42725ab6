"""The framework floor for ``make bench``: bare FastAPI answering a constant, no body parsing, no model.

No serving app on FastAPI + uvicorn can be faster than this on the same machine, so our app's req/s as a
fraction of this one's says how much our own code (routing, validation, predict, logging, metrics) costs.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI()

CONSTANT = b'{"prediction":[0]}'


@app.get("/livez")
async def livez() -> Response:
    return Response(b'{"status":"alive"}', media_type="application/json")


@app.post("/predict")
async def predict() -> Response:
    return Response(CONSTANT, media_type="application/json")
