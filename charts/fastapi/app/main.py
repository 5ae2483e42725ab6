"""The process entry point, exactly as the image runs it: ``uvicorn main:app`` from this folder."""

from serving.api.application import create_app
from serving.config import load_settings

app = create_app(load_settings())
