"""SFT data selection scorers and filters (DataFlow's text_sft family)."""
