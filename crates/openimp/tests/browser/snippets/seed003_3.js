card: {
     direct: {
        code: "367",
        quota: 3
    }
}
