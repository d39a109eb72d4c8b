"""What a person sees and answers in a terminal: the live console and the prompts."""
