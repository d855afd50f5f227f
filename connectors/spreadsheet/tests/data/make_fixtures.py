"""Makes the workbooks in this folder that Rust cannot write: xls, ods and a
password-protected xlsx. Run once; the files are committed.

    python3 -m pip install xlwt odfpy openpyxl msoffcrypto-tool
    python3 make_fixtures.py
"""

import datetime
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

HEADER = ["id", "name", "amount", "price", "active", "joined", "seen"]
ROWS = [
    [1, "Ada", 3, 2.5, True, datetime.date(2024, 1, 31), datetime.datetime(2024, 1, 31, 10, 30)],
    None,  # a blank row
    [2, "Grace", -7, 0.125, False, datetime.date(1999, 12, 31), datetime.datetime(2000, 1, 1, 0, 0, 1)],
    [3, None, None, None, None, None, None],
]


def xls():
    import xlwt

    book = xlwt.Workbook()
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    stamp = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
    people = book.add_sheet("People")
    for c, name in enumerate(HEADER):
        people.write(0, c, name)
    for r, row in enumerate(ROWS, start=1):
        for c, value in enumerate(row or []):
            if value is None:
                continue
            if isinstance(value, datetime.datetime):
                people.write(r, c, value, stamp)
            elif isinstance(value, datetime.date):
                people.write(r, c, value, date)
            else:
                people.write(r, c, value)
    merged = book.add_sheet("Merged")
    merged.write(0, 0, "id")
    merged.write_merge(0, 0, 1, 2, "Full name")
    merged.write(1, 0, 1)
    merged.write(1, 1, "Ada")
    merged.write(1, 2, "Lovelace")
    book.save(os.path.join(HERE, "people.xls"))


def ods():
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableRow, TableCell, CoveredTableCell
    from odf.text import P

    doc = OpenDocumentSpreadsheet()

    def cell(value):
        if value is None:
            return TableCell()
        if isinstance(value, bool):
            c = TableCell(valuetype="boolean", booleanvalue="true" if value else "false")
            c.addElement(P(text="TRUE" if value else "FALSE"))
        elif isinstance(value, datetime.datetime):
            c = TableCell(valuetype="date", datevalue=value.strftime("%Y-%m-%dT%H:%M:%S"))
            c.addElement(P(text=str(value)))
        elif isinstance(value, datetime.date):
            c = TableCell(valuetype="date", datevalue=value.isoformat())
            c.addElement(P(text=value.isoformat()))
        elif isinstance(value, (int, float)):
            c = TableCell(valuetype="float", value=value)
            c.addElement(P(text=str(value)))
        else:
            c = TableCell(valuetype="string")
            c.addElement(P(text=value))
        return c

    people = Table(name="People")
    for row in [HEADER] + ROWS:
        tr = TableRow()
        for value in row or [None]:
            tr.addElement(cell(value))
        people.addElement(tr)
    doc.spreadsheet.addElement(people)

    merged = Table(name="Merged")
    tr = TableRow()
    tr.addElement(cell("id"))
    spanned = cell("Full name")
    spanned.setAttribute("numbercolumnsspanned", "2")
    tr.addElement(spanned)
    tr.addElement(CoveredTableCell())
    merged.addElement(tr)
    tr = TableRow()
    for value in [1, "Ada", "Lovelace"]:
        tr.addElement(cell(value))
    merged.addElement(tr)
    doc.spreadsheet.addElement(merged)
    doc.save(os.path.join(HERE, "people.ods"))


def encrypted():
    import openpyxl

    plain = os.path.join(HERE, "plain.tmp.xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    sheet.append(["id", "name"])
    sheet.append([1, "Ada"])
    book.save(plain)
    out = os.path.join(HERE, "encrypted.xlsx")
    subprocess.run(["msoffcrypto-tool", "-e", "-p", "secret", plain, out], check=True)
    os.remove(plain)


xls()
ods()
encrypted()
