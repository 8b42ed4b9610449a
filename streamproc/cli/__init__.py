"""The operator command line: `python -m streamproc <command>` (= `faust -A streamproc.app <command>`).

    gen        sample CSV files
    upload     files or folders to the drop-zone bucket, with progress
    status     the file ledger, or one file with its reject reasons
    tail       events of a topic as JSON lines, PHI masked
    schema     the JSON Schema of each topic's value; docs/topics.md
    replay     reset a consumer group's offsets (dry run first)
    reprocess  force one finished file version through again
    release    publish a HELD file's rows once (the decision kept in the ledger)
    decline    end a HELD file DECLINED: none of its rows is published
    hold       hold every new file of a sender (key prefix) or dataset until `unhold`
    unhold     lift a sender hold
    holds      the sender holds in force

Exit codes: streamproc.cli.errors. The commands are registered on the app by
streamproc.cli.commands.install; the modules without Faust in them (errors, params, views, tail_format,
upload_plan) are pure.
"""
