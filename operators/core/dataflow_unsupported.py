"""DataFlow operator names we do not offer: why, and what to use instead.

An operator registered under one of these names (a later addition, a user's module) takes precedence.
"""

from operators.core.dataflow_names import Unsupported

_LLM_JUDGE = "PromptedEvaluator / PromptedFilter with your rating prompt (docs/dataflow_compat.md)"
_NEEDS_MODEL = "needs a specific fine-tuned model that cannot ship with this package"
_NOT_YET = "no counterpart here yet"

UNSUPPORTED: dict[str, Unsupported] = {
    "PromptedVQAGenerator": Unsupported(
        "needs a vision-language model and images", "a vLLM VLM endpoint via OpenAIResource"
    ),
    "Speech2TextGenerator": Unsupported("needs a speech model and audio files", "transcribe first, then load the text"),
    "ExtractSmilesFromTextGenerator": Unsupported("chemistry OCR prompts for a large model", "PromptedGenerator"),
    "SmilesEquivalenceDatasetEvaluator": Unsupported("needs RDKit SMILES canonicalisation", "not offered"),
    "MathBookQuestionExtract": Unsupported("needs MinerU and a vision-language model over PDF pages", "FileIngestor"),
    "FileOrURLToMarkdownConverterAPI": Unsupported("calls the MinerU cloud API", "FileIngestor on local files"),
    "PDF_Merger": Unsupported("part of the PDF-to-VQA flow (MinerU + VLM)", "FileIngestor"),
    "MinerU2LLMInputOperator": Unsupported("part of the PDF-to-VQA flow (MinerU + VLM)", "FileIngestor"),
    "LLMOutputParser": Unsupported("part of the PDF-to-VQA flow (MinerU + VLM)", "PromptedGenerator with json_schema"),
    "QA_Merger": Unsupported("part of the PDF-to-VQA flow (MinerU + VLM)", "not offered"),
    "VQAFormatter": Unsupported("part of the PDF-to-VQA flow (MinerU + VLM)", "not offered"),
    "PandasOperator": Unsupported(
        "runs arbitrary Python lambdas", "a small Operator subclass with @register (docs/dataflow_compat.md)"
    ),
    "RetrievalGenerator": Unsupported(
        "needs a LightRAG server and index", "DocAnswerGenerator over retrieved documents"
    ),
    "PerspectiveFilter": Unsupported("calls Google's Perspective API (network, key)", _LLM_JUDGE),
    "PerspectiveSampleEvaluator": Unsupported("calls Google's Perspective API (network, key)", _LLM_JUDGE),
    "LangkitFilter": Unsupported("needs langkit/whylogs models", "TextMetricEvaluator + ThresholdFilter"),
    "LangkitSampleEvaluator": Unsupported("needs langkit/whylogs models", "TextMetricEvaluator"),
    "BertSampleEvaluator": Unsupported("BERTScore downloads a BERT model", "QAF1Evaluator (token F1)"),
    "NERRefiner": Unsupported("needs spaCy's en_core_web_sm download", "PIIAnonymizeRefiner"),
    "Task2VecDatasetEvaluator": Unsupported(_NEEDS_MODEL + " (a GPU probe network)", "not offered"),
    # No counterpart yet; each says what comes closest. An operator registered under the name replaces the entry.
    "CondorGenerator": Unsupported(
        "it samples themes at random from DataFlow's built-in knowledge-tree prompt and reads no input; a step "
        "here works on input rows",
        "a JSONL of themes, then PromptedGenerator (questions) and InstructionResponseGenerator",
    ),
    "KBCMultiHopQAGeneratorBatch": Unsupported(
        "it reads and rewrites chunk JSON files named in a column (chunk_path -> enhanced_chunk_path); chunks "
        "are table rows here",
        "ChunkQAExtractor, then MultiHopQAGenerator",
    ),
    "MMDDatasetEvaluator": Unsupported(_NOT_YET + " (needs a reference set's embeddings)", "not offered"),
    "SQLByColumnGenerator": Unsupported(
        "it writes vector-search SQL for each embedding column of sqlite-vec databases (Text2VecSQL), which the "
        "read-only SQL runner here does not load",
        "SQLGenerator for plain SQL",
    ),
}
