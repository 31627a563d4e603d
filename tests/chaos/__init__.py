"""Faults injected into a real stack: killed workers, a restarted Redis, poison input, orphaned
jobs, broken storage and peers that hang. README "Faults" lists each with its test."""
