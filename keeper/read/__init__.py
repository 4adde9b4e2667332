"""Reading the book and its inputs at one block: the book reader, implied-vol surfaces."""
