"""Export: the chosen configuration as a deployable Lambda + DynamoDB + Pinecone bundle (AWS SAM)."""
