"""wtop's screen side: the Textual app and the command line. Never imports bcc."""
