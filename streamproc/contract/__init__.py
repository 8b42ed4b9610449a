"""What goes over the wire: the topics' value types (events) and the dead letters every stage writes (pure)."""
