# One GET with Python requests. Proxy (HTTPS_PROXY, with its credentials) and trust (REQUESTS_CA_BUNDLE)
# come from the environment: requests reads both natively (trust_env, the default).
#   python3 get_requests.py URL      (token from API_TOKEN)
import os
import sys

import requests

response = requests.get(sys.argv[1], headers={"Authorization": "Bearer " + os.environ["API_TOKEN"]},
                        timeout=30)
print(response.status_code)
print(response.text)
sys.exit(0 if response.ok else 1)
