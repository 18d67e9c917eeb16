// MSBuild inline task (compiled by RoslynCodeTaskFactory against netstandard2.0, see Directory.Build.targets).
//
// Why: libLibTorchSharp.so in TorchSharp 0.107.0 was linked by GCC 13 and lists the libstdc++ version
// node GLIBCXX_3.4.32, which only the marker symbol std::ios_base_library_init() uses (no relocation,
// never called). Debian 12's libstdc++ stops at GLIBCXX_3.4.30, so the dynamic loader refuses the
// library. Setting VER_FLG_WEAK on that one vernaux entry makes glibc treat the version as optional.
// No library does this edit; it is two bytes in .gnu.version_r, so it is written by hand here.
// The edit is idempotent and keeps the file's timestamp, so incremental builds do not copy it again.
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeeds : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string Versions { get; set; } = "";

    public override bool Execute()
    {
        var versions = Versions.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).ToArray();
        foreach (var item in Files)
        {
            try
            {
                var changed = Patch(item.ItemSpec, versions);
                if (changed > 0)
                    Log.LogMessage(MessageImportance.Normal, $"Marked {changed} version need(s) weak in {item.ItemSpec}");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogError($"Cannot patch ELF version needs of {item.ItemSpec}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    private static int Patch(string path, string[] versions)
    {
        var image = File.ReadAllBytes(path);
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (image[4] != 2 || image[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");

        var sectionTable = (long)BitConverter.ToUInt64(image, 0x28);
        var sectionSize = BitConverter.ToUInt16(image, 0x3A);
        var sectionCount = BitConverter.ToUInt16(image, 0x3C);
        long Section(int index) => sectionTable + (long)index * sectionSize;

        var verneed = Enumerable.Range(0, sectionCount)
            .Select(i => Section(i))
            .Where(s => BitConverter.ToUInt32(image, (int)s + 4) == ShtGnuVerneed)
            .DefaultIfEmpty(-1)
            .First();
        if (verneed < 0)
            return 0;

        var needOffset = (long)BitConverter.ToUInt64(image, (int)verneed + 0x18);
        var needCount = BitConverter.ToUInt32(image, (int)verneed + 0x2C);
        var stringSection = Section((int)BitConverter.ToUInt32(image, (int)verneed + 0x28));
        var strings = (long)BitConverter.ToUInt64(image, (int)stringSection + 0x18);

        var flagOffsets = new System.Collections.Generic.List<long>();
        var need = needOffset;
        for (var n = 0; n < needCount; n++)
        {
            var auxCount = BitConverter.ToUInt16(image, (int)need + 2);
            var aux = need + BitConverter.ToUInt32(image, (int)need + 8);
            for (var a = 0; a < auxCount; a++)
            {
                var flags = BitConverter.ToUInt16(image, (int)aux + 4);
                var name = ReadString(image, strings + BitConverter.ToUInt32(image, (int)aux + 8));
                if (versions.Contains(name) && (flags & VerFlagWeak) == 0)
                    flagOffsets.Add(aux + 4);
                aux += BitConverter.ToUInt32(image, (int)aux + 12);
            }
            need += BitConverter.ToUInt32(image, (int)need + 12);
        }
        if (flagOffsets.Count == 0)
            return 0;

        var timestamp = File.GetLastWriteTimeUtc(path);
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            foreach (var offset in flagOffsets)
            {
                var flags = (ushort)(BitConverter.ToUInt16(image, (int)offset) | VerFlagWeak);
                file.Position = offset;
                file.Write(BitConverter.GetBytes(flags), 0, 2);
            }
        }
        File.SetLastWriteTimeUtc(path, timestamp);
        return flagOffsets.Count;
    }

    private static string ReadString(byte[] image, long offset)
    {
        var end = Array.IndexOf(image, (byte)0, (int)offset);
        return Encoding.ASCII.GetString(image, (int)offset, end - (int)offset);
    }
}
