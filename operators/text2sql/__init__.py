"""Text-to-SQL operators: schema-grounded SQL synthesis, guarded execution, questions, CoT, difficulty."""
