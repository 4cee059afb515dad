from tests.bot.conftest import fake_bot_api
from tests.summarizer.test_pipeline import embedder, extractor  # the real models, loaded once per session

__all__ = ["embedder", "extractor", "fake_bot_api"]
