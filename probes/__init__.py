"""wtop's data side: BPF probes, snapshots and the pure model. Never imports Textual."""

__version__ = "0.1.0"
