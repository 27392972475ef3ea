"""The producer's transform step, shared by the producer stage and ``test_batch``.

:attr:`ProducerOptions.transform <broadway_py.options.ProducerOptions.transform>`
is the one callable run on each message as it leaves the producer (a file's
``decode`` step, then the user's transformer). Running it here, and only here,
makes a test message meet exactly what a delivered one meets: a message it
raises on fails with the error as its reason and follows the retry policy.
"""

from __future__ import annotations

from broadway_py.message import Message
from broadway_py.options import Transformer


def transform_messages(
    messages: list[Message], transform: Transformer
) -> tuple[list[Message], list[Message]]:
    """Run ``transform`` on each message: (what it returned, in order; the failed ones).

    A transform that raises, or returns something other than a Message, fails
    that message only; the others go on.
    """
    kept: list[Message] = []
    failed: list[Message] = []
    for message in messages:
        try:
            result = transform(message)
            if result is not message:
                if not isinstance(result, Message):
                    raise TypeError(
                        f"the transformer returned {type(result).__name__}, not a Message"
                    )
                result.replaces(message)
            kept.append(result)
        except Exception as error:
            failed.append(message.failed(error))
    return kept, failed
