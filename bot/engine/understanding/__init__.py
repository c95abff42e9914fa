"""Understanding what customers write: which flow a message asks for, measured.

``embedding`` loads the static sentence-embedding model that ships inside the
``wordllama`` wheel (offline, once per process); ``router`` fits a small classifier on
the flows' titles and triggers whenever the catalog is loaded, and ranks flows for a
message; ``decision`` turns that ranking into start / "Did you mean" / nothing.
"""
