enum OTLPTestsPlaceholder {}
