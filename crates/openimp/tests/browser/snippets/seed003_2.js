display: {
    card_quota: [6]  // 할부개월 6개월만 활성화
}
