"""The fault suite: each real broker driven through the faults operators meet.

One workload, one handler and one way of counting outcomes (workload.py,
handler.py, scenario.py) for every broker; a small adapter per broker
(rabbitmq.py, kafka.py, sqs.py) seeds the source, reads the dead letters back
and says what is left on the broker. The process under test is the real CLI,
``broadway-py run``, in a subprocess (service.py). What each case proves is
summed up in docs/delivery.md.
"""
