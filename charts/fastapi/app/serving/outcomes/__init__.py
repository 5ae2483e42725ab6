"""The prediction log, feedback and the statistics of online quality."""
