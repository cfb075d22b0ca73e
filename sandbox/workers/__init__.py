"""Workers the learner can kill: the two embeds of lessons 7 and 8 on one mechanism.

``app`` is the code a learner reads (and what runs); ``runs`` starts, bounds, controls and
cleans up a run (its workers are asyncio tasks of the web process); ``queue`` and ``group``
are the two kinds of run (lists with BRPOP and BLMOVE; a stream with a consumer group);
``events`` streams a run to the page.
"""
