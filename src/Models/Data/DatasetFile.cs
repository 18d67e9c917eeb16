namespace PapaActors.Models.Data;

/// <summary>
/// Opening a dataset file: only a regular file (or a link to one) is opened, as a FIFO would block the read
/// and a device never end it, and an I/O or permission error is a <see cref="DatasetFormatException"/> naming the file.
/// </summary>
internal static class DatasetFile
{
    public static FileStream OpenRead(string path)
    {
        try
        {
            return FileKind.Problem(path, followLinks: true) is { } problem
                ? throw new DatasetFormatException(path, problem)
                : File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(path, e);
        }
    }

    public static DatasetFormatException Unreadable(string path, Exception e) => new(path, $"cannot be read ({e.Message})", e);
}
