"""Protocol events and the clause monitors that turn them into verdicts."""
