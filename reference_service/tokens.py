"""Token counting (placeholder: re-exports the fake server's counter until it moves here)."""

from mock_llm.tokens import count_chat_tokens, count_tokens, message_text, split_tokens

__all__ = ["count_chat_tokens", "count_tokens", "message_text", "split_tokens"]
