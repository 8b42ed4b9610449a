"""The worker's settings from the environment (STREAMPROC_*, KAFKA_*, AWS_*, DATABASE_URL), frozen, secrets hidden."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamproc.ingest.rejections import Limits
from streamproc.shared.logs import LogFormat, log_format
from streamproc.shared.settings import (
    AwsSettings,
    KafkaConnection,
    TopicSettings,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
    environ,
    redact_url,
)


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Everything the Faust worker needs; `repr` hides passwords."""

    app_id: str = "streamproc"
    kafka: KafkaConnection = field(default_factory=KafkaConnection)
    topics: TopicSettings = field(default_factory=TopicSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    bucket: str = "healthcare-ingestion-drop-zone"  # the drop zone the upload command writes to
    database_url: str = field(default="postgresql://streamproc@127.0.0.1:35432/streamproc", repr=False)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    web_tables: bool = False  # Faust's /table/ views (they expose table data): off unless configured
    web_router: bool = False  # Faust's /router/ views (they expose the cluster's topology): off unless configured
    web_refresh_seconds: int = 5  # how often /pipeline/ reloads itself
    web_poll_seconds: float = 5.0  # how often lag, health and the ledger's status counts are read
    bridge_health_url: str = "http://127.0.0.1:6067/healthz"  # the bridge's health view: SQS as it sees it
    data_dir: str = ""  # Faust's working directory; empty: <tmp>/streamproc/<app_id>
    sink_batch_size: int = 5000
    sink_batch_seconds: float = 0.5
    produce_window: int = 20_000
    s3_chunk_size: int = 1 << 20
    retry_backoff_cap: float = 30.0
    extra_datasets: tuple[str, ...] = ()
    log_level: str = "INFO"
    # This worker's stable name in its consumer groups (static membership: a restarted worker takes its
    # partitions back at once). Empty: <host>-<web port>, stable across restarts on one host.
    instance_id: str = ""
    session_timeout: float = 10.0  # seconds before the group drops a member that stopped heartbeating
    claim_lease: float = 15.0  # seconds a file being split stays claimed by its worker without a heartbeat
    limits: Limits = field(default_factory=Limits)  # what one file may cost (bytes, gzip ratio, rows)
    spool_dir: str = ""  # where files with controls are kept while evaluated; empty: <tmp>/streamproc-spool
    spool_max_bytes: int = 32 << 30  # the most one file's spooled records may take there
    # Seconds a sink may keep failing, or an unfinished file go without progress and a live claim, before the
    # health view (and /metrics) says so.
    stall_seconds: float = 300.0
    faults: str = ""  # test-only fault points, e.g. "split:5000" (see streamproc/shared/faults.py); empty: none
    operator: str = ""  # who `release`, `decline`, `hold` and `unhold` record as deciding; empty: the OS user
    # False: no dataset's file-level controls apply (files load as if none were declared; sender holds still do):
    # for measuring what controls cost (make bench), never for production.
    controls: bool = True
    manifest_wait_seconds: float = 3600.0  # how long a file whose dataset requires a manifest waits for it
    receipt_prefix: str = "receipts/"  # where each file's receipt goes in its bucket (<prefix><key>.json); empty: none

    @property
    def member_name(self) -> str:
        """The group.instance.id of this worker's consumers (the fan-out agent's and every sink's)."""
        return self.instance_id or f"{socket.gethostname()}-{self.web_port}"

    log_format: LogFormat = "text"  # or "json": one JSON object per line

    def __repr__(self) -> str:
        return (
            f"WorkerSettings(app_id={self.app_id!r}, kafka={self.kafka!r}, topics={self.topics!r}, aws={self.aws!r}, "
            f"bucket={self.bucket!r}, database_url={redact_url(self.database_url)!r}, "
            f"web={self.web_host}:{self.web_port}, sink_batch={self.sink_batch_size}/{self.sink_batch_seconds}s)"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        src = environ() if env is None else env
        extra = tuple(m.strip() for m in src.get("STREAMPROC_EXTRA_DATASETS", "").split(",") if m.strip())
        return cls(
            app_id=env_str(src, "STREAMPROC_APP_ID", cls.app_id),
            kafka=KafkaConnection.from_env(src),
            topics=TopicSettings.from_env(src),
            aws=AwsSettings.from_env(src),
            bucket=env_str(src, "STREAMPROC_BUCKET", cls.bucket),
            database_url=env_str(src, "DATABASE_URL", cls.database_url),
            web_host=env_str(src, "STREAMPROC_WEB_HOST", cls.web_host),
            web_port=env_int(src, "STREAMPROC_WEB_PORT", cls.web_port, 1, 65535),
            web_tables=env_bool(src, "STREAMPROC_WEB_TABLES", default=cls.web_tables),
            web_router=env_bool(src, "STREAMPROC_WEB_ROUTER", default=cls.web_router),
            web_refresh_seconds=env_int(src, "STREAMPROC_WEB_REFRESH_SECONDS", cls.web_refresh_seconds, 1, 3600),
            web_poll_seconds=env_float(src, "STREAMPROC_WEB_POLL_SECONDS", cls.web_poll_seconds, 0.2),
            bridge_health_url=env_str(src, "STREAMPROC_BRIDGE_HEALTH_URL", cls.bridge_health_url),
            data_dir=env_str(src, "STREAMPROC_DATA_DIR", cls.data_dir),
            sink_batch_size=env_int(src, "STREAMPROC_SINK_BATCH_SIZE", cls.sink_batch_size, 1, 1_000_000),
            sink_batch_seconds=env_float(src, "STREAMPROC_SINK_BATCH_SECONDS", cls.sink_batch_seconds, 0.001),
            produce_window=env_int(src, "STREAMPROC_PRODUCE_WINDOW", cls.produce_window, 1, 10_000_000),
            s3_chunk_size=env_int(src, "STREAMPROC_S3_CHUNK_SIZE", cls.s3_chunk_size, 4096, 1 << 30),
            retry_backoff_cap=env_float(src, "STREAMPROC_RETRY_BACKOFF_CAP", cls.retry_backoff_cap, 0.1),
            extra_datasets=extra,
            log_level=env_choice(src, "STREAMPROC_LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
            instance_id=env_str(src, "STREAMPROC_INSTANCE_ID", ""),
            session_timeout=env_float(src, "STREAMPROC_SESSION_TIMEOUT", cls.session_timeout, 6.0),
            claim_lease=env_float(src, "STREAMPROC_CLAIM_LEASE", cls.claim_lease, 1.0),
            limits=Limits(
                inflated_bytes=env_int(src, "STREAMPROC_MAX_INFLATED_BYTES", Limits.inflated_bytes, 1 << 20, 1 << 50),
                ratio=env_float(src, "STREAMPROC_MAX_GZIP_RATIO", Limits.ratio, 2.0),
                rows=env_int(src, "STREAMPROC_MAX_ROWS_PER_FILE", Limits.rows, 1, 1 << 40),
                record_bytes=env_int(src, "STREAMPROC_MAX_RECORD_BYTES", Limits.record_bytes, 1024, 1 << 30),
            ),
            spool_dir=env_str(src, "STREAMPROC_SPOOL_DIR", cls.spool_dir),
            spool_max_bytes=env_int(src, "STREAMPROC_SPOOL_MAX_BYTES", cls.spool_max_bytes, 1 << 20, 1 << 50),
            stall_seconds=env_float(src, "STREAMPROC_STALL_SECONDS", cls.stall_seconds, 1.0),
            faults=env_str(src, "STREAMPROC_FAULTS", ""),
            operator=env_str(src, "STREAMPROC_OPERATOR", ""),
            receipt_prefix=env_str(src, "STREAMPROC_RECEIPT_PREFIX", cls.receipt_prefix),
            controls=env_bool(src, "STREAMPROC_CONTROLS", default=cls.controls),
            manifest_wait_seconds=env_float(src, "STREAMPROC_MANIFEST_WAIT_SECONDS", cls.manifest_wait_seconds, 1.0),
            log_format=log_format(env_choice(src, "STREAMPROC_LOG_FORMAT", "TEXT", ("TEXT", "JSON"))),
        )
