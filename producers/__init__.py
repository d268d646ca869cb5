"""Event producers: scenario simulator, Kafka producer, archive and replay."""
