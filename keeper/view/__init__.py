"""What a person reads of a cycle: the plan and book reports (text and JSON)."""
