"""The Kafka edge: topics and sends, faust's transport with our fix, the broker watch."""
