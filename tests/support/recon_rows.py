"""A one-line M-Pesa statement for console upload tests."""

HEADER = ("Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,"
          "Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,"
          "Linked Transaction ID,A/C No.")


def statement_bytes() -> bytes:
    row = ("TKS9Q8W7E6,2026-11-28 10:15:02,2026-11-28 10:15:02,Pay Bill from 25471****101 - "
           "Grace Acc. L1042,Completed,500.00,,184230.00,true,Pay Bill Online,"
           "25471****101 - Grace,,L1042")
    return f"{HEADER}\n{row}\n".encode()
