"""The export pipeline: fetch history batches, preload senders, media stage, render and commit, chat by chat."""
