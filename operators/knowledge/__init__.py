"""Knowledge cleaning: document ingestion, chunking, cleaning, QA extraction, SFT table assembly."""
