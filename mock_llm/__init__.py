"""A fake OpenAI server for the lab: runs with no network and no API key.

    from mock_llm import MockLLMServer, MockConfig
    with MockLLMServer(MockConfig(latency="zero")) as mock:
        client = OpenAI(base_url=mock.base_url, api_key="mock")
"""

from .app import create_app
from .config import DEFAULT_MODELS, MockConfig, ModelProfile
from .faults import Fault, MockState, RecordedRequest
from .server import MockLLMServer, ThreadedServer, free_port

__all__ = ["create_app", "DEFAULT_MODELS", "MockConfig", "ModelProfile", "Fault", "MockState",
           "RecordedRequest", "MockLLMServer", "ThreadedServer", "free_port"]
