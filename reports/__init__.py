"""The periodic report on results of handling administrative procedures (báo cáo định kỳ kết quả
giải quyết thủ tục hành chính): figures read from InfluxDB, laid out as the official form, written
as XLSX, HTML and PDF with charts."""
