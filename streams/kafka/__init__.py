"""The one boundary between Kafka records and ``WorkerCore`` (issue 13).

- :mod:`streams.kafka.checkpoint`: one table of offsets per source partition, admission in offset
  order, the commit limit, and the order "changelog acknowledged → offsets committable";
- :mod:`streams.kafka.fence`: Faust's consumer with the offset fence (faust-streaming#221) and
  seek epochs, around Faust's private fetch loop;
- :mod:`streams.kafka.changelog`: fact records to the table's changelog in Kafka record batches,
  acknowledged before a batch ends;
- :mod:`streams.kafka.partitioner`: a unit's home partition (Kafka's murmur2).

Faust's and aiokafka's private names are used here and in ``streams.app`` only.
"""
