{
  "targets": [
    {
      "target_name": "flowpolicy_blas",
      "sources": ["flowpolicy_blas.c"],
      "cflags": ["-O3", "-ffast-math", "-Wall"],
      "libraries": ["-lopenblas", "-lm"]
    }
  ]
}
