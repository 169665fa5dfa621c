"""One training loop (`pretrain`) and the runtimes that host it: local, or a Ray Train worker."""
