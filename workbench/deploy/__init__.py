"""Shipping: the chosen configuration as a deployable Lambda + DynamoDB + Pinecone bundle (AWS SAM), its state machine and loaders."""
