"""Operator contract, registry, prompts, LLM protocol and row ids."""

from operators.core.contract import CheckSpec, Kind, OpConfig, Operator, OperatorContext, OperatorError
from operators.core.llm import LLMClient, LLMRequest, LLMResponse, SamplingParams
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

__all__ = [
    "CheckSpec",
    "Kind",
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "OpConfig",
    "Operator",
    "OperatorContext",
    "OperatorError",
    "PromptTemplate",
    "SamplingParams",
    "register",
]
