print("forager")
