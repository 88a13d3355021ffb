"""Readings in InfluxDB (1.x, 2.x and 3.x), one job per module.

* ``config``: where and how to reach it (``InfluxConfig``);
* ``schema``: how a reading is laid out as a point, and the times InfluxDB can hold;
* ``influxql``: quoting, the queries the store asks, the rows it reads back;
* ``version``: which server answers, and so which write path;
* ``errors``: what a failure means to the caller (``StoreUnavailable``, ``StoreRejected``);
* ``store``: the conversation itself (``InfluxStore``: writes, reads, retries).

Import from the module that holds a name: this package re-exports nothing, so each name has
one home and an import says which job it needs.
"""
