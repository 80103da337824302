"""Framework adapters: ``adapters.spikingjelly`` and ``adapters.snntorch`` (each imports its framework)."""
