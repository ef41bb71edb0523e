def inner():
    raise ValueError("the script's own error")


inner()
