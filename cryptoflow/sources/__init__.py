"""The outside world coming in: the Binance REST client, the price poller, backfill."""
