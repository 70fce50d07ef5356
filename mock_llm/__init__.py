"""A fake OpenAI server for the lab: runs with no network and no API key.

    from mock_llm import MockLLMServer, MockConfig
    with MockLLMServer(MockConfig(latency="zero")) as mock:
        client = OpenAI(base_url=mock.base_url, api_key="mock")

`MockConfig(profile="vllm" | "ollama" | "llamacpp")` makes it answer as that server does.
"""

from .app import create_app
from .config import MockConfig
from .faults import Fault, MockState, RecordedRequest
from .profiles import PROFILES, UpstreamProfile, get_profile
from .server import MockLLMServer, ThreadedServer, free_port
from .timing import ModelProfile

__all__ = [
    "PROFILES",
    "Fault",
    "MockConfig",
    "MockLLMServer",
    "MockState",
    "ModelProfile",
    "RecordedRequest",
    "ThreadedServer",
    "UpstreamProfile",
    "create_app",
    "free_port",
    "get_profile",
]
